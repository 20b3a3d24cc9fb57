//! The interactive latency-path page: the tx and rx stage budgets of `coalescope_model`
//! with a toggle per technique, and the store-and-forward vs cut-through animation.
//!
//! Every number is computed here by the model and embedded as JSON: the budget of every
//! combination of techniques (2^5 per path, indexed by a bit mask in
//! [`Technique::ALL`] order) and the four first/last-byte instants of both transmit modes.
//! The page's script only looks a combination up, sets bar widths and interpolates the
//! animation between the embedded instants.

use coalescope_model::budget::{Budget, BudgetInput, Path, Technique};
use coalescope_model::cutthrough::{CutThrough, CutThroughTiming};
use serde::Serialize;

use crate::html::{escape, script_json};
use crate::ReportError;

/// Default frame of the cut-through animation: a full 1500-byte Ethernet payload.
pub const DEFAULT_FRAME_BYTES: u32 = 1500;
/// Default host-to-NIC throughput (Gb/s): PCIe Gen3 x8 after encoding, about 64.
pub const DEFAULT_PCIE_GBPS: f64 = 64.0;
/// Default wire speed (Gb/s).
pub const DEFAULT_LINK_GBPS: f64 = 10.0;
/// Default first chunk the NIC waits for (bytes): one 64-byte write-combining burst.
pub const DEFAULT_CHUNK_BYTES: u32 = 64;
/// Default fixed PCIe latency before the first byte arrives (ns).
pub const DEFAULT_PCIE_LATENCY_NS: f64 = 100.0;

/// The cut-through inputs with the defaults above.
pub fn default_cut_through() -> CutThrough {
    CutThrough {
        frame_bytes: DEFAULT_FRAME_BYTES,
        pcie_gbps: DEFAULT_PCIE_GBPS,
        link_gbps: DEFAULT_LINK_GBPS,
        chunk_bytes: DEFAULT_CHUNK_BYTES,
        pcie_latency_ns: DEFAULT_PCIE_LATENCY_NS,
    }
}

/// The bit of a technique in a combination mask.
pub fn bit(t: Technique) -> usize {
    Technique::ALL
        .iter()
        .position(|x| *x == t)
        .map_or(0, |i| 1 << i)
}

/// One path's budgets: the baseline and every combination.
#[derive(Debug, Clone, Serialize)]
pub struct PathBudgets {
    /// `tx` or `rx`.
    pub path: Path,
    /// Indexed by mask: `combos[m]` has technique `ALL[i]` on iff bit i of m is set.
    pub combos: Vec<Budget>,
}

/// What the page's script reads.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyData {
    /// Technique names in mask-bit order.
    pub techniques: Vec<&'static str>,
    /// tx then rx.
    pub paths: Vec<PathBudgets>,
    /// The cut-through inputs.
    pub cut_through: CutThrough,
    /// Its timings.
    pub timing: CutThroughTiming,
    /// When the last byte has crossed PCIe (ns): `L + 8 N / G_p`.
    pub pcie_done_ns: f64,
}

impl LatencyData {
    /// Evaluate every combination on both paths and the cut-through timing.
    pub fn new(cut_through: CutThrough) -> Result<LatencyData, ReportError> {
        let paths = [Path::Tx, Path::Rx]
            .into_iter()
            .map(|path| {
                let combos = (0..1usize << Technique::ALL.len())
                    .map(|mask| {
                        BudgetInput {
                            path: Some(path),
                            techniques: Technique::ALL
                                .into_iter()
                                .filter(|t| mask & bit(*t) != 0)
                                .collect(),
                            overrides: Vec::new(),
                        }
                        .evaluate()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PathBudgets { path, combos })
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        let timing = cut_through.timing()?;
        Ok(LatencyData {
            techniques: Technique::ALL.iter().map(|t| t.name()).collect(),
            paths,
            pcie_done_ns: timing.store_forward_first_byte_ns,
            cut_through,
            timing,
        })
    }

    /// The section's HTML: toggles, two budget panels, the animation, and the script.
    pub fn html(&self) -> Result<String, ReportError> {
        let json = serde_json::to_string(self).map_err(ReportError::Encode)?;
        let mut s = String::from(
            "<section id=\"latency\"><h2>Latency path: what each technique removes</h2>\n\
             <p>Stage budgets of the transmit and receive paths from <code>coalescope model budget</code> \
             (illustrative default figures: the shape matters, not the absolute values). \
             Toggle a technique: bars and totals update from budgets the model computed for every combination.</p>\n\
             <div class=\"toggles\">\n",
        );
        for t in Technique::ALL {
            s.push_str(&format!(
                "<label><input type=\"checkbox\" class=\"technique\" id=\"t-{0}\" data-bit=\"{1}\"> {0}</label>\n",
                escape(t.name()),
                bit(t)
            ));
        }
        s.push_str("</div>\n");
        for p in &self.paths {
            let name = match p.path {
                Path::Tx => "tx",
                Path::Rx => "rx",
            };
            let base = &p.combos[0];
            s.push_str(&format!(
                "<div class=\"budget\" id=\"budget-{name}\"><h3>{} path: <span id=\"{name}-total\">{}</span> ns \
                 <small>(baseline {} ns)</small></h3>\n",
                name.to_uppercase(),
                base.total_ns,
                base.baseline_total_ns
            ));
            for (i, st) in base.stages.iter().enumerate() {
                let width = 100.0 * st.cost_ns as f64 / base.baseline_total_ns.max(1) as f64;
                s.push_str(&format!(
                    "<div class=\"stage\"><span class=\"sname\">{}</span><span class=\"bar\"><span class=\"fill\" id=\"{name}-bar-{i}\" style=\"width:{width:.2}%\"></span></span><span class=\"sns\" id=\"{name}-ns-{i}\">{} ns</span></div>\n",
                    escape(st.description),
                    st.cost_ns
                ));
            }
            s.push_str("</div>\n");
        }
        let t = &self.timing;
        let c = &self.cut_through;
        s.push_str(&format!(
            "<h3>Store-and-forward vs cut-through (CTPIO)</h3>\n\
             <p>{} B frame, PCIe {} Gb/s after {} ns latency, link {} Gb/s, first chunk {} B \
             (<code>coalescope model cutthrough</code>). First byte on the wire: store-and-forward {:.1} ns, \
             cut-through {:.1} ns ({:.1}x sooner); last byte: {:.1} ns vs {:.1} ns{}.</p>\n\
             <button id=\"play\">play</button> <span id=\"clock\">t = 0 ns</span>\n\
             <div class=\"lane\"><span class=\"lname\">store-and-forward</span><span class=\"track\"><span class=\"arrived\" id=\"saf-arrived\"></span><span class=\"wire\" id=\"saf-wire\"></span></span></div>\n\
             <div class=\"lane\"><span class=\"lname\">cut-through</span><span class=\"track\"><span class=\"arrived\" id=\"ct-arrived\"></span><span class=\"wire\" id=\"ct-wire\"></span></span></div>\n\
             <p class=\"key\"><span class=\"arrived swatch\"></span> arrived over PCIe <span class=\"wire swatch\"></span> transmitted on the wire</p>\n",
            c.frame_bytes,
            c.pcie_gbps,
            c.pcie_latency_ns,
            c.link_gbps,
            c.chunk_bytes,
            t.store_forward_first_byte_ns,
            t.cut_through_first_byte_ns,
            t.first_byte_speedup,
            t.store_forward_last_byte_ns,
            t.cut_through_last_byte_ns,
            if t.underrun_limited {
                " (start pushed back so the wire never runs out of data: PCIe is slower than the link)"
            } else {
                ""
            }
        ));
        s.push_str(&format!(
            "<script type=\"application/json\" id=\"latency-data\">{}</script>\n<script>{}</script>\n</section>\n",
            script_json(&json),
            SCRIPT
        ));
        Ok(s)
    }
}

/// The page's script: look up the checked combination, set widths and totals; animate the
/// two lanes by linear interpolation between the embedded instants.
const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('latency-data').textContent);
  function mask() {
    var m = 0;
    document.querySelectorAll('input.technique').forEach(function (b) {
      if (b.checked) { m += Number(b.dataset.bit); }
    });
    return m;
  }
  function update() {
    var m = mask();
    data.paths.forEach(function (p) {
      var b = p.combos[m];
      document.getElementById(p.path + '-total').textContent = String(b.total_ns);
      b.stages.forEach(function (s, i) {
        document.getElementById(p.path + '-bar-' + i).style.width = (100 * s.cost_ns / Math.max(1, b.baseline_total_ns)).toFixed(2) + '%';
        document.getElementById(p.path + '-ns-' + i).textContent = s.cost_ns + ' ns' + (s.effect === 'kept' ? '' : ' (' + s.effect + ' by ' + s.by + ')');
      });
    });
  }
  document.querySelectorAll('input.technique').forEach(function (b) { b.addEventListener('change', update); });
  update();
  var t = data.timing, lat = data.cut_through.pcie_latency_ns, done = data.pcie_done_ns;
  function frac(now, a, b) { return b <= a ? (now >= b ? 1 : 0) : Math.min(1, Math.max(0, (now - a) / (b - a))); }
  function draw(now) {
    var arrived = frac(now, lat, done);
    document.getElementById('saf-arrived').style.width = (100 * arrived).toFixed(2) + '%';
    document.getElementById('ct-arrived').style.width = (100 * arrived).toFixed(2) + '%';
    document.getElementById('saf-wire').style.width = (100 * frac(now, t.store_forward_first_byte_ns, t.store_forward_last_byte_ns)).toFixed(2) + '%';
    document.getElementById('ct-wire').style.width = (100 * frac(now, t.cut_through_first_byte_ns, t.cut_through_last_byte_ns)).toFixed(2) + '%';
    document.getElementById('clock').textContent = 't = ' + now.toFixed(0) + ' ns';
  }
  var end = t.store_forward_last_byte_ns, start = null;
  function step(ts) {
    if (start === null) { start = ts; }
    var now = Math.min(end, (ts - start) / 3000 * end);
    draw(now);
    if (now < end) { window.requestAnimationFrame(step); }
  }
  document.getElementById('play').addEventListener('click', function () { start = null; window.requestAnimationFrame(step); });
  draw(end);
})();
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn combos_match_hand_sums() {
        let d = LatencyData::new(default_cut_through()).unwrap();
        let tx = &d.paths[0].combos;
        let rx = &d.paths[1].combos;
        assert_eq!(tx.len(), 32);
        // tx baseline 1230; bypass removes 90+220+80+110 -> 730; + TX_PUSH (-300) -> 430;
        // + CTPIO (dma 250 -> 35) -> 215. rx 890; busy-poll removes 140+170+260 -> 320.
        let kb = bit(Technique::KernelBypass);
        let push = bit(Technique::TxPush);
        let ctpio = bit(Technique::Ctpio);
        assert_eq!(tx[0].total_ns, 1230);
        assert_eq!(tx[kb].total_ns, 730);
        assert_eq!(tx[kb | push].total_ns, 430);
        assert_eq!(tx[kb | push | ctpio].total_ns, 215);
        assert_eq!(rx[0].total_ns, 890);
        assert_eq!(rx[bit(Technique::BusyPoll)].total_ns, 320);
        // 1500 B at 64 Gb/s after 100 ns: SAF 287.5 ns, CT 100 + 512/64 = 108 ns.
        assert_eq!(d.timing.store_forward_first_byte_ns, 287.5);
        assert_eq!(d.timing.cut_through_first_byte_ns, 108.0);
    }

    #[test]
    fn page_has_a_toggle_per_technique_and_no_closing_script_in_data() {
        let html = LatencyData::new(default_cut_through())
            .unwrap()
            .html()
            .unwrap();
        for t in Technique::ALL {
            assert!(html.contains(&format!("id=\"t-{}\"", t.name())));
        }
        assert!(html.contains("<span id=\"tx-total\">1230</span>"));
        assert!(html.contains("<span id=\"rx-total\">890</span>"));
    }
}
