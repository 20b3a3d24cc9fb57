//! Read-only host checklist for low-latency receive.
