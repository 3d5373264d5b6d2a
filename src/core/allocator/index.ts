// Pure Mesos-style hierarchical DRF allocator: types, sorter, filters, cycle.
export type { AllocatorAgent, AllocatorFramework, OfferFilter, AllocationInput, Allocation } from './types.ts';
export { DrfSorter, type DrfSorterOptions } from './sorter.ts';
export {
  DEFAULT_REFUSE_SECONDS,
  MAX_REFUSE_SECONDS,
  refuseSecondsToMs,
  isFilterActive,
  pruneExpiredFilters,
  isFiltered,
  indexFilters,
  isFilteredIndexed,
  type FilterIndex,
} from './filters.ts';
export { DEFAULT_MIN_ALLOCATABLE, meetsMinAllocatable, parseMinAllocatable, type MinAllocatable } from './min-allocatable.ts';
export { allocate, shuffleAgents, GPU_RESOURCES_CAPABILITY, DEFAULT_WEIGHT } from './allocate.ts';
