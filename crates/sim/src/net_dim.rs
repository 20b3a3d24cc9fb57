//! Linux net_dim adaptive interrupt moderation (SPEC §2), from the public description in the kernel docs.
