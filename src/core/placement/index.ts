// Pure placement: which offers an app's instances go to (filters → scorers → greedy pick),
// why offers were not used, and which instances to kill on scale-down.
export type {
  Attribute,
  FilterReason,
  FilterStatus,
  FilterVerdict,
  KillCandidate,
  KillSelection,
  OfferExplanation,
  PlacedInstance,
  Placement,
  PlacementExplanation,
  PlacementOffer,
  PlacementRequest,
  PlacementResult,
  RejectReason,
} from './types.ts';
export { MAX_PER_OFFER_REASON, REJECT_REASONS } from './types.ts';
export { place, explain } from './place.ts';
export { selectInstancesToKill, killOrder } from './kill.ts';
export { attributeValueString, canonicalField, fieldReader, fieldValue, formatScalar, type FieldSource } from './attributes.ts';
export {
  CONSTRAINT_OPERATORS,
  CONSTRAINT_PLUGINS,
  compileConstraint,
  constraintKey,
  validateConstraint,
  FieldGroups,
  type CompiledConstraint,
  type ConstraintOperator,
  type ConstraintOperatorPlugin,
} from './constraints.ts';
export { buildFilters, choosePorts, DEFAULT_MAX_PER_OFFER, normalizeRequest, type FilterPlugin, type FilterContext } from './filters.ts';
export { DEFAULT_SCORERS, binPackScorer, scarceScorer, spreadScorer, type ScorerPlugin } from './scorers.ts';
