// Set by every master on its /master/redirect answer: 'true' when the master answering is the leader.
// A client that reached the leader through an address of its own (a tunnel, a port forward) keeps that
// address instead of switching to the advertised one, and a redirect target is trusted only when it
// answers as the leader itself (not whatever else listens at that address).
export const LEADING_HEADER = 'corral-leading';
