//! UDP receiver recording the dual timeline (seq, send time, kernel and app timestamps).
