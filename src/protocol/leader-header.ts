// Set by every master on its /master/redirect answer: 'true' when the master answering is the leader.
// A client that reached the leader through an address of its own (a tunnel, a port forward) keeps that
// address instead of switching to the advertised one, and a redirect target is trusted only when it
// answers as the leader itself (not whatever else listens at that address).
export const LEADING_HEADER = 'corral-leading';

// Sent by a client that finds the leader itself (an agent reading the election in etcd) on requests to
// the master its locator names. A master that does not lead answers such a request 503 instead of
// 307: its own view of the election may lag the client's by a few ms around a failover, and a
// redirect would then send the client back to the leader being replaced (paused, dead, cut off).
export const NO_REDIRECT_HEADER = 'corral-no-redirect';
