//! NIC coalescing and NAPI software knobs: ethtool netlink COALESCE_GET/SET with ioctl fallback.
