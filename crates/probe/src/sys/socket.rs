//! Socket options and calls not covered by nix (SO_TIMESTAMPING, busy-poll, recvmmsg).
