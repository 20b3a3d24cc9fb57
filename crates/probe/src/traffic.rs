//! UDP traffic generator: schedules (constant, Poisson, bursts, replay) and the sender.
