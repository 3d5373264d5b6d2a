// Invariant checkers, kept apart from the scenarios that break things (test/faults/) so that any
// scenario — real-process lab or a future simulation — can reuse them. Each returns a list of
// violations; empty means the invariant held.
export { checkStatusUpdates, checkMarathonStatusEvents, unacknowledgedUpdates, isTerminal, TERMINAL_STATES } from './updates.ts';
export { checkNoDuplicateInstances, convergenceProblems, convergenceView, peakRunning, instanceOf, isTaskOfApp } from './instances.ts';
export { createOfferAudit, parseLegacyPorts } from './offers.ts';
export { apiTasks, checkOrchestratorStore, checkStoreAgreement } from './store.ts';
