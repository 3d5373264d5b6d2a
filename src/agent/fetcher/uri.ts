// What to do with one CommandInfo.URI, decided without I/O: where it comes from (http(s), or a local file as
// file:// or an absolute path), where it lands in the sandbox (its basename, or output_file, which must stay
// inside the sandbox), and whether it is made executable or extracted (Mesos: `executable` wins over
// `extract`, and only known archive suffixes are extracted).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandInfo } from '../../protocol/mesos.ts';
import { FetchError } from './fetch-error.ts';

/** One CommandInfo.URI (value, executable, extract, cache, output_file). */
export type CommandURI = NonNullable<CommandInfo['uris']>[number];

export type ArchiveKind = 'tar' | 'zip' | 'gzip';

export type FetchSource = { kind: 'http'; url: URL } | { kind: 'file'; path: string };

export interface FetchItem {
  uri: string;
  source: FetchSource;
  /** Destination relative to the sandbox, normalized (never absolute, never leaving it). */
  dest: string;
  executable: boolean;
  /** Set when the fetched file is extracted after the download. */
  extract?: ArchiveKind;
  cache: boolean;
}

// Longest suffix first: `.tar.gz` is a tar, `.gz` alone a single gzipped file.
const ARCHIVE_SUFFIXES: [string, ArchiveKind][] = [
  ['.tar.gz', 'tar'],
  ['.tar.bz2', 'tar'],
  ['.tar.xz', 'tar'],
  ['.tgz', 'tar'],
  ['.tbz2', 'tar'],
  ['.txz', 'tar'],
  ['.tar', 'tar'],
  ['.zip', 'zip'],
  ['.gz', 'gzip'],
];

export function archiveKindOf(name: string): ArchiveKind | undefined {
  const lower = name.toLowerCase();
  return ARCHIVE_SUFFIXES.find(([suffix]) => lower.endsWith(suffix) && lower.length > suffix.length)?.[1];
}

export function parseSource(value: string): FetchSource {
  if (value.startsWith('/')) return { kind: 'file', path: path.normalize(value) };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new FetchError('BAD_REQUEST', `'${value}' is neither a URL nor an absolute path`);
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'http', url };
  if (url.protocol === 'file:') {
    if (url.hostname && url.hostname !== 'localhost') throw new FetchError('BAD_REQUEST', `file URI '${value}' names a remote host`);
    return { kind: 'file', path: fileURLToPath(url) };
  }
  throw new FetchError('BAD_REQUEST', `unsupported URI scheme '${url.protocol.replace(/:$/, '')}' (http, https, file or an absolute path)`);
}

/** The last path segment of the URI (query and fragment excluded), decoded. */
export function basenameOf(source: FetchSource): string | undefined {
  let name: string;
  if (source.kind === 'file') name = path.basename(source.path);
  else {
    const segment = source.url.pathname.split('/').pop() ?? '';
    try {
      name = decodeURIComponent(segment);
    } catch {
      name = segment;
    }
  }
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return undefined;
  return name;
}

/** output_file relative to the sandbox, normalized; undefined (with the reason) when it would leave it. */
export function safeRelativePath(p: string): { path: string } | { error: string } {
  if (p.includes('\0')) return { error: 'contains a NUL byte' };
  if (path.posix.isAbsolute(p)) return { error: 'must be relative to the sandbox' };
  const norm = path.posix.normalize(p);
  if (norm === '.' || norm === '' || norm.endsWith('/')) return { error: 'must name a file' };
  if (norm === '..' || norm.startsWith('../')) return { error: 'must stay inside the sandbox' };
  return { path: norm };
}

export function planFetch(uri: CommandURI): FetchItem {
  const source = parseSource(uri.value);
  let dest: string;
  if (uri.output_file !== undefined) {
    const safe = safeRelativePath(uri.output_file);
    if ('error' in safe) throw new FetchError('BAD_REQUEST', `output_file '${uri.output_file}' ${safe.error}`);
    dest = safe.path;
  } else {
    const name = basenameOf(source);
    if (!name) throw new FetchError('BAD_REQUEST', `cannot tell a file name from '${uri.value}'; set output_file`);
    dest = name;
  }
  const executable = uri.executable ?? false;
  // Mesos's default for `extract` is true: only archives are extracted, so plain files are unaffected.
  const extract = !executable && (uri.extract ?? true) ? archiveKindOf(dest) : undefined;
  return { uri: uri.value, source, dest, executable, ...(extract ? { extract } : {}), cache: uri.cache ?? false };
}
