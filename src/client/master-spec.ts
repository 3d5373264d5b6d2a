// The one `--master` string every client of the master accepts (CLI, agent, orchestrator, scheduler
// client), parsed into one of three forms:
//   http://host:port               one master; a follower's /master/redirect names the leader
//   http://a:5050,http://b:5050    several masters; the first that answers names the leader
//   etcd://host:port[,host:port]   the masters' etcd: the election record names the leader
// Errors name the offending part, because a typo in one of five comma-separated items is otherwise
// hard to spot.
import { ValidationError } from '../protocol/errors.ts';
import { normalizeBaseUrl } from './http.ts';

export type MasterSpec =
  | { kind: 'url'; text: string; urls: [string] }
  | { kind: 'list'; text: string; urls: string[] }
  /** `url` is the normalised etcd:// form openStore() takes; endpoints are host:port. */
  | { kind: 'etcd'; text: string; url: string; endpoints: string[] };

export const MASTER_FORMS = 'a master URL (http://host:port), a comma-separated list of them, or etcd://host:port[,host:port]';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/@[\]?#]+):([^:]*)$/;

/** Parses a --master value; ValidationError (path = `what`) names the bad part. */
export function parseMasterSpec(input: string, what = '--master'): MasterSpec {
  const text = String(input ?? '').trim();
  if (!text) throw new ValidationError(`is empty; expected ${MASTER_FORMS}`, what);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'etcd') return parseEtcd(text, what);
  if (scheme === 'zk')
    throw new ValidationError(`ZooKeeper (zk://) is not supported; name the masters' etcd instead: etcd://host:port[,host:port]`, what);
  const parts = text.split(',').map((p) => p.trim());
  const urls: string[] = [];
  parts.forEach((part, i) => {
    const where = parts.length > 1 ? `item ${i + 1} of "${text}"` : `"${text}"`;
    if (!part) throw new ValidationError(`${where} is empty; expected ${MASTER_FORMS}`, what);
    const partScheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(part)?.[1]?.toLowerCase();
    if (partScheme === 'etcd') throw new ValidationError(`${where} ("${part}"): etcd:// cannot be mixed with master URLs; use etcd://a:2379,b:2379`, what);
    if (partScheme && partScheme !== 'http') throw new ValidationError(`${where} ("${part}"): unsupported scheme ${partScheme}:// (only http:// masters)`, what);
    let url: string;
    try {
      url = normalizeBaseUrl(part);
      const u = new URL(url);
      if (!u.hostname) throw new Error('no host');
    } catch (e) {
      throw new ValidationError(`${where} ("${part}") is not a valid master URL: ${(e as Error).message}`, what);
    }
    if (!urls.includes(url)) urls.push(url);
  });
  return urls.length === 1 && parts.length === 1 ? { kind: 'url', text, urls: [urls[0]!] } : { kind: 'list', text, urls };
}

function parseEtcd(text: string, what: string): MasterSpec {
  const body = text.slice('etcd://'.length).replace(/\/+$/, '');
  if (!body) throw new ValidationError(`"${text}" names no etcd endpoint; expected etcd://host:port[,host:port]`, what);
  const parts = body.split(',').map((p) => p.trim().replace(/^etcd:\/\//i, ''));
  const endpoints: string[] = [];
  parts.forEach((part, i) => {
    const where = parts.length > 1 ? `etcd endpoint ${i + 1} of "${text}"` : `etcd endpoint of "${text}"`;
    if (!part) throw new ValidationError(`${where} is empty`, what);
    if (part.includes('/')) throw new ValidationError(`${where} ("${part}") has a path; expected just host:port`, what);
    const m = HOST_PORT.exec(part);
    if (!m) {
      const hint = part.includes(':') ? 'expected host:port' : 'it has no port (etcd listens on 2379 by default: host:2379)';
      throw new ValidationError(`${where} ("${part}") is not host:port: ${hint}`, what);
    }
    const port = Number(m[2]);
    if (!/^\d+$/.test(m[2]!) || port < 1 || port > 65535)
      throw new ValidationError(`${where} ("${part}"): port "${m[2]}" is not a number between 1 and 65535`, what);
    const endpoint = `${m[1]}:${port}`;
    if (!endpoints.includes(endpoint)) endpoints.push(endpoint);
  });
  return { kind: 'etcd', text, url: `etcd://${endpoints.join(',')}`, endpoints };
}
