// Version information the master reports (/version, MasterInfo, GET_VERSION).
// Corral speaks the Mesos 1.11 wire protocol, so it reports that version:
// clients (Marathon-style orchestrators, CLIs) gate features on it.
export const MESOS_COMPAT_VERSION = '1.11.0';
export const CORRAL_VERSION = '0.1.0';

export const BUILD_INFO = {
  version: MESOS_COMPAT_VERSION,
  build_date: '2024-08-23 00:00:00',
  build_time: 1724371200,
  build_user: 'corral',
  git_sha: '',
  git_branch: '',
  git_tag: `corral-${CORRAL_VERSION}`,
} as const;
