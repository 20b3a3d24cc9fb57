//! The SPEC §4 md aggregates as DataFusion aggregate UDFs.
//!
//! Every UDF keeps one of our partial aggregators ([`Mddr`], [`DelayQuantiles`] or
//! [`Bdc`]) per group; its DataFusion `state` is that aggregator serialized into one `Binary` value
//! (CBOR of the serde form) and its `merge_batch` deserializes each partial and calls our
//! `merge`. DataFusion's partitioned execution (partial aggregation per partition,
//! repartition by group, final merge) therefore computes exactly what one pass of
//! `analyze` computes, within the exactness rules of `coalescope_metrics` (crate docs,
//! "Merging").

use std::sync::Arc;

use coalescope_metrics::{Bdc, Config, DelayQuantiles, HighBdc, Mddr, MddrResult, Prob};
use coalescope_timeline::{Duration, Instant};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

/// What a UDF reports from its aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// `mddr(t_ingress_ns, t_app_ns)`: MDDR = Q95(app gaps) / Q95(ingress gaps).
    Mddr,
    /// `mddr_reason(t_ingress_ns, t_app_ns)`: why MDDR is null (null when it is defined).
    MddrReason,
    /// `mddr_q50(t_ingress_ns, t_app_ns)`: Q50(app gaps) / Q50(ingress gaps).
    MddrQ50,
    /// `mddr_q99(t_ingress_ns, t_app_ns)`: Q99(app gaps) / Q99(ingress gaps).
    MddrQ99,
    /// `gap_compression(t_ingress_ns, t_app_ns)`: share of app gaps `<= g` minus share of
    /// ingress gaps `<= g`.
    GapCompression,
    /// `delay_q(t_ingress_ns, t_app_ns, p)`: nearest-rank `Q_p` of `t_app - t_ingress` (ns)
    /// over delivered events.
    DelayQ,
    /// `delay_max(t_ingress_ns, t_app_ns)`: the largest delivery delay (ns).
    DelayMax,
    /// `negative_delays(t_ingress_ns, t_app_ns)`: delivered events with `t_app < t_ingress`
    /// (the `negative_delay` anomaly: a clock problem).
    NegativeDelays,
    /// `bdc_median(t_ingress_ns, t_app_ns)`: nearest-rank median of the interval BDCs on
    /// the app timeline.
    BdcMedian,
    /// `bdc_max(t_ingress_ns, t_app_ns)`: the largest interval BDC (app timeline).
    BdcMax,
    /// `bdc_threshold(t_ingress_ns, t_app_ns)`: the high-BDC threshold (`--high-bdc`).
    BdcThreshold,
    /// `bdc_intervals(t_ingress_ns, t_app_ns)`: intervals existing on the app timeline.
    BdcIntervals,
    /// `bdc_high_intervals(t_ingress_ns, t_app_ns)`: intervals whose BDC is strictly
    /// above the threshold.
    BdcHighIntervals,
    /// `bdc_ingress_median(t_ingress_ns, t_app_ns)`: median interval BDC_ingress.
    BdcIngressMedian,
    /// `bdc_ingress_intervals(t_ingress_ns, t_app_ns)`: intervals existing on the ingress
    /// timeline.
    BdcIngressIntervals,
}

/// Which aggregator a UDF keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gaps,
    Delay,
    Bdc,
}

impl Output {
    /// Every UDF, in registration order.
    pub const ALL: [Output; 15] = [
        Output::Mddr,
        Output::MddrReason,
        Output::MddrQ50,
        Output::MddrQ99,
        Output::GapCompression,
        Output::DelayQ,
        Output::DelayMax,
        Output::NegativeDelays,
        Output::BdcMedian,
        Output::BdcMax,
        Output::BdcThreshold,
        Output::BdcIntervals,
        Output::BdcHighIntervals,
        Output::BdcIngressMedian,
        Output::BdcIngressIntervals,
    ];

    /// The SQL name of the UDF.
    pub fn name(self) -> &'static str {
        match self {
            Output::Mddr => "mddr",
            Output::MddrReason => "mddr_reason",
            Output::MddrQ50 => "mddr_q50",
            Output::MddrQ99 => "mddr_q99",
            Output::GapCompression => "gap_compression",
            Output::DelayQ => "delay_q",
            Output::DelayMax => "delay_max",
            Output::NegativeDelays => "negative_delays",
            Output::BdcMedian => "bdc_median",
            Output::BdcMax => "bdc_max",
            Output::BdcThreshold => "bdc_threshold",
            Output::BdcIntervals => "bdc_intervals",
            Output::BdcHighIntervals => "bdc_high_intervals",
            Output::BdcIngressMedian => "bdc_ingress_median",
            Output::BdcIngressIntervals => "bdc_ingress_intervals",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Output::Mddr
            | Output::MddrReason
            | Output::MddrQ50
            | Output::MddrQ99
            | Output::GapCompression => Kind::Gaps,
            Output::DelayQ | Output::DelayMax | Output::NegativeDelays => Kind::Delay,
            _ => Kind::Bdc,
        }
    }

    fn return_type(self) -> DataType {
        match self {
            Output::Mddr | Output::MddrQ50 | Output::MddrQ99 | Output::GapCompression => {
                DataType::Float64
            }
            Output::MddrReason => DataType::Utf8,
            Output::DelayQ
            | Output::DelayMax
            | Output::NegativeDelays
            | Output::BdcIntervals
            | Output::BdcHighIntervals
            | Output::BdcIngressIntervals => DataType::Int64,
            Output::BdcMedian
            | Output::BdcMax
            | Output::BdcThreshold
            | Output::BdcIngressMedian => DataType::Float64,
        }
    }
}

/// The aggregator parameters the UDFs share with `analyze` (from a [`Config`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    /// Reordering horizon of the gap series (`None` = exact, unbounded).
    pub reorder_horizon: Option<Duration>,
    /// Values a quantile series keeps exactly.
    pub exact_limit: usize,
    /// The threshold `g` of `gap_compression`.
    pub compress_gap: Duration,
    /// The BDC window `W`.
    pub window: Duration,
    /// Windows per BDC interval (`I / W`).
    pub per_interval: i64,
    /// The high-BDC threshold rule, as its flag text (`median`, `q:0.75`, `abs:0.05`).
    pub high_bdc: String,
}

impl Params {
    /// The parameters `analyze` uses with `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        Params {
            reorder_horizon: cfg.reorder_horizon,
            exact_limit: cfg.exact_limit(),
            compress_gap: cfg.compress_gap,
            window: cfg.window,
            per_interval: cfg.interval.as_nanos() / cfg.window.as_nanos().max(1),
            high_bdc: cfg.high_bdc.label(),
        }
    }
}

/// One md aggregate UDF (see [`Output`] for the SQL functions).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MdUdaf {
    output: Output,
    params: Params,
    signature: Signature,
}

impl MdUdaf {
    /// The UDF reporting `output` with the aggregator parameters `params`.
    pub fn new(output: Output, params: Params) -> Self {
        let mut args = vec![DataType::Int64, DataType::Int64];
        if output == Output::DelayQ {
            args.push(DataType::Float64);
        }
        MdUdaf {
            output,
            params,
            signature: Signature::exact(args, Volatility::Immutable),
        }
    }
}

/// Every md UDF with the parameters of `cfg`, ready for `SessionContext::register_udaf`.
pub fn md_udafs(cfg: &Config) -> Vec<AggregateUDF> {
    let params = Params::from_config(cfg);
    Output::ALL
        .iter()
        .map(|&o| AggregateUDF::from(MdUdaf::new(o, params.clone())))
        .collect()
}

impl AggregateUDFImpl for MdUdaf {
    fn name(&self) -> &str {
        self.output.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.output.return_type())
    }

    fn is_nullable(&self) -> bool {
        true
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let state = match self.output.kind() {
            Kind::Gaps => State::Gaps(Mddr::new(
                self.params.reorder_horizon,
                self.params.exact_limit,
                self.params.compress_gap,
            )),
            Kind::Delay => State::Delay(DelayQuantiles::new(self.params.exact_limit)),
            Kind::Bdc => State::Bdc(Bdc::new(self.params.window, self.params.per_interval)),
        };
        let high_bdc = match self.params.high_bdc.parse::<HighBdc>() {
            Ok(h) => h,
            Err(e) => return plan_err!("{}: {e}", self.output.name()),
        };
        let p = if self.output == Output::DelayQ {
            Some(literal_prob(acc_args.exprs.get(2).map(|e| e.as_ref()))?)
        } else {
            None
        };
        Ok(Box::new(MdAccumulator {
            output: self.output,
            p,
            high_bdc,
            params: self.params.clone(),
            state,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[partial]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// The probability of `delay_q`: a literal in `[0, 1]`, read as its decimal text so that
/// `0.99` is exactly 99/100 (the rank `ceil(p n)` is computed in integers).
fn literal_prob(expr: Option<&dyn datafusion::physical_expr::PhysicalExpr>) -> Result<Prob> {
    let Some(lit) = expr.and_then(|e| e.downcast_ref::<Literal>()) else {
        return plan_err!("delay_q: the third argument p must be a literal such as 0.99");
    };
    let text = match lit.value() {
        ScalarValue::Float64(Some(v)) => v.to_string(),
        other => return plan_err!("delay_q: p must be a number in [0, 1], got {other}"),
    };
    match Prob::parse(&text) {
        Some(p) => Ok(p),
        None => plan_err!("delay_q: p must be a number in [0, 1], got {text}"),
    }
}

/// The partial aggregator of one group. One per accumulator, each boxed by DataFusion:
/// the variants' size difference does not matter.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[allow(clippy::large_enum_variant)]
enum State {
    Gaps(Mddr),
    Delay(DelayQuantiles),
    Bdc(Bdc),
}

/// Accumulator of one group: rows go to our `update`, partials to our `merge`.
#[derive(Debug)]
struct MdAccumulator {
    output: Output,
    p: Option<Prob>,
    high_bdc: HighBdc,
    params: Params,
    state: State,
}

impl MdAccumulator {
    fn merge_state(&mut self, other: State) -> Result<()> {
        match (&mut self.state, other) {
            (State::Gaps(a), State::Gaps(b)) => a.merge(&b),
            (State::Delay(a), State::Delay(b)) => a.merge(&b),
            (State::Bdc(a), State::Bdc(b)) => a.merge(&b),
            _ => return exec_err!("{}: partial state of another aggregate", self.output.name()),
        }
        Ok(())
    }
}

/// `f(result)` when the gap profile is defined.
fn gaps_value(r: &MddrResult, f: impl Fn(&MddrResult) -> Option<f64>) -> ScalarValue {
    ScalarValue::Float64(f(r))
}

impl Accumulator for MdAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (Some(ing), Some(app)) = (values.first(), values.get(1)) else {
            return exec_err!("{}: expected (t_ingress_ns, t_app_ns)", self.output.name());
        };
        let ing = ing.as_primitive_opt::<Int64Type>();
        let app = app.as_primitive_opt::<Int64Type>();
        let (Some(ing), Some(app)) = (ing, app) else {
            return exec_err!(
                "{}: t_ingress_ns and t_app_ns must be Int64 (ns)",
                self.output.name()
            );
        };
        for i in 0..ing.len() {
            // A row without t_ingress_ns is no md event (analyze rejects such a file).
            if ing.is_null(i) {
                continue;
            }
            let t_ing = Instant(ing.value(i));
            let t_app = (!app.is_null(i)).then(|| Instant(app.value(i)));
            match &mut self.state {
                State::Gaps(m) => m.update(t_ing, t_app),
                State::Delay(d) => {
                    if let Some(a) = t_app {
                        d.update(t_ing, a);
                    }
                }
                State::Bdc(b) => b.update(t_ing, t_app),
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match &self.state {
            State::Gaps(m) => {
                let r = m.finish();
                match self.output {
                    Output::Mddr => gaps_value(&r, |r| r.mddr),
                    Output::MddrQ50 => gaps_value(&r, |r| r.mddr_q50),
                    Output::MddrQ99 => gaps_value(&r, |r| r.mddr_q99),
                    Output::GapCompression => gaps_value(&r, |r| r.gap_compression),
                    _ => ScalarValue::Utf8(r.reason),
                }
            }
            State::Delay(d) => match self.output {
                Output::DelayQ => ScalarValue::Int64(self.p.and_then(|p| d.delay.quantile(p))),
                Output::DelayMax => ScalarValue::Int64(d.delay.max()),
                _ => ScalarValue::Int64(Some(i64::try_from(d.negative).unwrap_or(i64::MAX))),
            },
            State::Bdc(b) => {
                let r = b.finish(self.high_bdc);
                let count =
                    |n: usize| ScalarValue::Int64(Some(i64::try_from(n).unwrap_or(i64::MAX)));
                match self.output {
                    Output::BdcMedian => ScalarValue::Float64(r.median),
                    Output::BdcMax => ScalarValue::Float64(r.max),
                    Output::BdcThreshold => ScalarValue::Float64(r.threshold),
                    Output::BdcIntervals => count(r.intervals),
                    Output::BdcHighIntervals => count(r.high_intervals),
                    Output::BdcIngressMedian => ScalarValue::Float64(r.ingress_median),
                    _ => count(r.ingress_intervals),
                }
            }
        })
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.state {
                State::Gaps(m) => m.heap_bytes(),
                State::Delay(d) => d.heap_bytes(),
                State::Bdc(b) => b.heap_bytes(),
            }
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut bytes = Vec::new();
        if let Err(e) = ciborium::into_writer(&self.state, &mut bytes) {
            return exec_err!("{}: serializing the partial state: {e}", self.output.name());
        }
        Ok(vec![ScalarValue::Binary(Some(bytes))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(col) = states.first() else {
            return exec_err!("{}: no partial state column", self.output.name());
        };
        let Some(col) = col.as_binary_opt::<i32>() else {
            return exec_err!("{}: partial state column is not Binary", self.output.name());
        };
        for i in 0..col.len() {
            if col.is_null(i) {
                continue;
            }
            let other: State = match ciborium::from_reader(col.value(i)) {
                Ok(s) => s,
                Err(e) => {
                    return exec_err!(
                        "{}: partial state row {i} does not decode: {e}",
                        self.output.name()
                    )
                }
            };
            // States cross DataFusion's spill files: check what the merge relies on.
            let p = &self.params;
            let checked = match &other {
                State::Gaps(m) => m.check(p.reorder_horizon, p.exact_limit, p.compress_gap),
                State::Delay(d) => d.check(p.exact_limit),
                State::Bdc(b) => b.check(p.window, p.per_interval),
            };
            if let Err(e) = checked {
                return exec_err!("{}: partial state row {i}: {e}", self.output.name());
            }
            self.merge_state(other)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryArray, Int64Array};

    fn acc(output: Output) -> MdAccumulator {
        let params = Params::from_config(&Config::default());
        MdAccumulator {
            output,
            p: Some(Prob::P50),
            high_bdc: HighBdc::Median,
            params: params.clone(),
            state: match output.kind() {
                Kind::Gaps => State::Gaps(Mddr::new(
                    params.reorder_horizon,
                    params.exact_limit,
                    params.compress_gap,
                )),
                Kind::Delay => State::Delay(DelayQuantiles::new(params.exact_limit)),
                Kind::Bdc => State::Bdc(Bdc::new(params.window, params.per_interval)),
            },
        }
    }

    fn rows(ing: Vec<Option<i64>>, app: Vec<Option<i64>>) -> Vec<ArrayRef> {
        vec![
            Arc::new(Int64Array::from(ing)),
            Arc::new(Int64Array::from(app)),
        ]
    }

    /// The lib doc example of coalescope-metrics: ingress every 1000 ns, app gaps
    /// 1,1,1,1,5001,1,1,1,1 -> MDDR = 5001 / 1000 = 5.001.
    fn example() -> (Vec<Option<i64>>, Vec<Option<i64>>) {
        let ing = (0..10).map(|i| Some(i * 1000)).collect();
        let app = (0..10)
            .map(|i| Some(if i < 5 { 5_000 } else { 10_000 } + i))
            .collect();
        (ing, app)
    }

    #[test]
    fn mddr_of_one_batch_is_the_hand_computed_ratio() {
        let (ing, app) = example();
        let mut a = acc(Output::Mddr);
        a.update_batch(&rows(ing, app)).unwrap();
        assert_eq!(a.evaluate().unwrap(), ScalarValue::Float64(Some(5.001)));
    }

    #[test]
    fn partial_states_split_anywhere_merge_to_the_one_pass_value() {
        let (ing, app) = example();
        for cut in 1..9 {
            let mut left = acc(Output::Mddr);
            let mut right = acc(Output::Mddr);
            left.update_batch(&rows(ing[..cut].to_vec(), app[..cut].to_vec()))
                .unwrap();
            right
                .update_batch(&rows(ing[cut..].to_vec(), app[cut..].to_vec()))
                .unwrap();
            // Final stage: merge the serialized partials in reverse order.
            let mut fin = acc(Output::Mddr);
            let s: Vec<Vec<u8>> = [&mut right, &mut left]
                .into_iter()
                .map(|a| match a.state().unwrap().remove(0) {
                    ScalarValue::Binary(Some(b)) => b,
                    other => panic!("{other:?}"),
                })
                .collect();
            let col: ArrayRef = Arc::new(BinaryArray::from_iter_values(s.iter()));
            fin.merge_batch(&[col]).unwrap();
            assert_eq!(
                fin.evaluate().unwrap(),
                ScalarValue::Float64(Some(5.001)),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn bdc_is_the_hand_computed_share_and_merges_across_any_cut() {
        // W = 250 us, I = 100 ms. Interval 0: windows [0, 250 us) with 2 events and
        // [250, 500 us) with 3 -> BDC 3/5 = 0.6; interval 1 (at 100 ms): one window of
        // 4 -> BDC 1.0. Median of {0.6, 1.0} (nearest rank) = 0.6; max 1.0; the median
        // threshold marks interval 1 high. The app timeline is the ingress one + 5 us
        // except the 4th event, undelivered.
        let us = 1_000i64;
        let ing: Vec<Option<i64>> = [0, 10, 300, 310, 320, 100_000, 100_001, 100_002, 100_003]
            .iter()
            .map(|&t| Some(t * us))
            .collect();
        let app: Vec<Option<i64>> = ing
            .iter()
            .enumerate()
            .map(|(i, t)| (i != 3).then(|| t.unwrap() + 5 * us))
            .collect();
        let want = [
            (Output::BdcIngressMedian, ScalarValue::Float64(Some(0.6))),
            (Output::BdcMax, ScalarValue::Float64(Some(1.0))),
            (Output::BdcIntervals, ScalarValue::Int64(Some(2))),
            (Output::BdcIngressIntervals, ScalarValue::Int64(Some(2))),
            (Output::BdcHighIntervals, ScalarValue::Int64(Some(1))),
            // App: windows [0,250) {5, 15} and [250,500) {305, 325} (310 undelivered):
            // 2/4 = 0.5 and 1.0 -> median 0.5, threshold 0.5.
            (Output::BdcMedian, ScalarValue::Float64(Some(0.5))),
            (Output::BdcThreshold, ScalarValue::Float64(Some(0.5))),
        ];
        for (output, value) in want {
            for cut in 0..=ing.len() {
                let mut left = acc(output);
                let mut right = acc(output);
                left.update_batch(&rows(ing[..cut].to_vec(), app[..cut].to_vec()))
                    .unwrap();
                right
                    .update_batch(&rows(ing[cut..].to_vec(), app[cut..].to_vec()))
                    .unwrap();
                let mut fin = acc(output);
                let s: Vec<Vec<u8>> = [&mut right, &mut left]
                    .into_iter()
                    .map(|a| match a.state().unwrap().remove(0) {
                        ScalarValue::Binary(Some(b)) => b,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                let col: ArrayRef = Arc::new(BinaryArray::from_iter_values(s.iter()));
                fin.merge_batch(&[col]).unwrap();
                assert_eq!(fin.evaluate().unwrap(), value, "{output:?} cut {cut}");
            }
        }
    }

    #[test]
    fn a_state_of_other_parameters_is_refused() {
        let foreign = State::Gaps(Mddr::new(
            Some(Duration::from_nanos(1_000_000)),
            Config::default().exact_limit(),
            Config::default().compress_gap,
        ));
        let mut bytes = Vec::new();
        ciborium::into_writer(&foreign, &mut bytes).unwrap();
        let col: ArrayRef = Arc::new(BinaryArray::from_iter_values([bytes]));
        let err = acc(Output::Mddr)
            .merge_batch(&[col])
            .unwrap_err()
            .to_string();
        assert!(err.contains("mddr: partial state row 0: ingress:"), "{err}");
    }

    #[test]
    fn too_few_gaps_give_null_and_a_reason() {
        let mut a = acc(Output::MddrReason);
        a.update_batch(&rows(vec![Some(0), Some(5)], vec![Some(9), None]))
            .unwrap();
        assert_eq!(
            a.evaluate().unwrap(),
            ScalarValue::Utf8(Some("ingress timeline has 1 gaps (< 2)".into()))
        );
        let mut m = acc(Output::Mddr);
        m.update_batch(&rows(vec![Some(0), Some(5)], vec![Some(9), None]))
            .unwrap();
        assert_eq!(m.evaluate().unwrap(), ScalarValue::Float64(None));
    }

    #[test]
    fn delay_quantile_max_and_negatives_skip_undelivered_rows() {
        // Delays 30, -5, 10, 20 (row 3 undelivered): sorted -5,10,20,30; p50 rank 2 = 10.
        let ing = vec![Some(0), Some(100), Some(200), Some(300), Some(400)];
        let app = vec![Some(30), Some(95), Some(210), None, Some(420)];
        let mut q = acc(Output::DelayQ);
        q.update_batch(&rows(ing.clone(), app.clone())).unwrap();
        assert_eq!(q.evaluate().unwrap(), ScalarValue::Int64(Some(10)));
        let mut mx = acc(Output::DelayMax);
        mx.update_batch(&rows(ing.clone(), app.clone())).unwrap();
        assert_eq!(mx.evaluate().unwrap(), ScalarValue::Int64(Some(30)));
        let mut neg = acc(Output::NegativeDelays);
        neg.update_batch(&rows(ing, app)).unwrap();
        assert_eq!(neg.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
    }

    #[test]
    fn a_corrupt_partial_is_an_error_naming_the_row() {
        let mut a = acc(Output::Mddr);
        let col: ArrayRef = Arc::new(BinaryArray::from_iter_values([b"\xff\x00".as_slice()]));
        let e = a.merge_batch(&[col]).unwrap_err().to_string();
        assert!(
            e.contains("mddr: partial state row 0 does not decode"),
            "{e}"
        );
    }
}
