//! SIOCETHTOOL ioctl fallback for coalescing get/set, and SIOCSHWTSTAMP.
