//! Host counter samplers: /proc/interrupts, /proc/net/softnet_stat, /sys/class/net statistics, ksoftirqd CPU time.
