// Durable state of the orchestrator, over the Store. Every call has a deadline (a hung store
// must never lock an app forever); writes to one key are serialised in call order so that the
// last write wins in the order the runtime made its decisions.
import { UnavailableError } from '../protocol/errors.ts';
import type { Clock } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import type { Store } from '../store/store.ts';
import { dec, keys } from './keys.ts';
import type { AppDefinition, DeploymentRecord, InstanceRecord, TaskFailure } from './service.ts';

export interface GroupMeta {
  id: string;
  dependencies: string[];
  version: string;
}

/**
 * One version of the root group (GET /v2/groups/versions): which version of every app was in
 * effect, the explicit groups, and per group the root version at which its subtree last changed
 * (its `version`). App definitions live in the per-app version store.
 */
export interface RootVersion {
  version: string;
  apps: Record<string, string>;
  groups: GroupMeta[];
  groupVersions: Record<string, string>;
}

export interface LoadedState {
  frameworkId?: string;
  apps: AppDefinition[];
  instances: InstanceRecord[];
  deployments: DeploymentRecord[];
  failures: TaskFailure[];
  groups: GroupMeta[];
  /** Oldest first. */
  rootVersions: RootVersion[];
}

/** Versions kept per app (Marathon's --zk_max_versions default is 50). */
export const MAX_VERSIONS = 50;
/** Root group versions kept (the same limit). */
export const MAX_ROOT_VERSIONS = 50;

export class Persistence {
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly deadlineMs = 10_000,
  ) {}

  /** Runs `op` with the store deadline. */
  private deadline<T>(what: string, op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () => reject(new UnavailableError(`store did not answer within ${this.deadlineMs} ms (${what})`)),
        this.deadlineMs,
      );
      op().then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (e) => {
          timer.cancel();
          reject(e);
        },
      );
    });
  }

  /** Serialises writes per key. */
  private serial<T>(key: string, op: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(op, op);
    const tail = next.catch(() => {});
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  private put(key: string, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    return this.serial(key, () => this.deadline(`put ${key}`, () => this.store.put(key, json)).then(() => {}));
  }
  private del(key: string): Promise<void> {
    return this.serial(key, () => this.deadline(`delete ${key}`, () => this.store.delete(key)).then(() => {}));
  }
  private async rangeJson<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    const kvs = await this.deadline(`range ${prefix}`, () => this.store.range(prefix));
    const out: { key: string; value: T }[] = [];
    for (const kv of kvs) {
      try {
        out.push({ key: kv.key, value: JSON.parse(kv.value) as T });
      } catch {
        this.log.warn('ignoring unparsable store value', { key: kv.key });
      }
    }
    return out;
  }

  async load(): Promise<LoadedState> {
    const [fw, apps, instances, deployments, failures, groups, roots] = await Promise.all([
      this.deadline('get framework id', () => this.store.get(keys.frameworkId)),
      this.rangeJson<AppDefinition>(keys.appsPrefix),
      this.rangeJson<InstanceRecord>(keys.instancesPrefix),
      this.rangeJson<DeploymentRecord>(keys.deploymentsPrefix),
      this.rangeJson<TaskFailure>(keys.failuresPrefix),
      this.rangeJson<GroupMeta>(keys.groupsPrefix),
      this.rangeJson<RootVersion>(keys.rootVersionsPrefix),
    ]);
    return {
      frameworkId: fw?.value || undefined,
      apps: apps.map((x) => x.value),
      instances: instances.map((x) => x.value),
      deployments: deployments.map((x) => x.value),
      failures: failures.map((x) => x.value),
      groups: groups.map((x) => x.value),
      rootVersions: roots.map((x) => x.value).sort((a, b) => a.version.localeCompare(b.version)),
    };
  }

  saveFrameworkId(id: string): Promise<void> {
    return this.serial(keys.frameworkId, () => this.deadline('put framework id', () => this.store.put(keys.frameworkId, id)).then(() => {}));
  }
  clearFrameworkId(): Promise<void> {
    return this.del(keys.frameworkId);
  }

  /**
   * Stores the current definition and the version snapshot atomically; prunes old versions
   * (except those `keep` says are still referenced, e.g. by a root group version).
   */
  async saveApp(app: AppDefinition, keep: (version: string) => boolean = () => false): Promise<void> {
    const json = JSON.stringify(app);
    await this.serial(keys.app(app.id), () =>
      this.deadline(`save app ${app.id}`, () =>
        this.store.commit(
          [],
          [
            { type: 'put', key: keys.app(app.id), value: json },
            { type: 'put', key: keys.version(app.id, app.version!), value: json },
          ],
        ),
      ),
    );
    const versions = await this.versions(app.id);
    if (versions.length > MAX_VERSIONS) {
      for (const v of versions.slice(MAX_VERSIONS)) if (!keep(v)) await this.del(keys.version(app.id, v)).catch(() => {});
    }
  }

  /** Removes only the current definition (the app is being stopped; versions stay until it is gone). */
  removeAppDefinition(appId: string): Promise<void> {
    return this.del(keys.app(appId));
  }

  /**
   * Removes the app's current definition, versions (except those `keep` says are still
   * referenced by a root group version), failure and instance records.
   */
  async deleteApp(appId: string, keep: (version: string) => boolean = () => false): Promise<void> {
    await this.del(keys.app(appId));
    const vp = keys.versionsPrefix(appId);
    for (const p of [vp, keys.appInstancesPrefix(appId)]) {
      const kvs = await this.deadline(`range ${p}`, () => this.store.range(p));
      for (const kv of kvs) if (p !== vp || !keep(kv.key.slice(vp.length))) await this.del(kv.key).catch(() => {});
    }
    await this.del(keys.failure(appId)).catch(() => {});
  }

  /** Stored versions, newest first. */
  async versions(appId: string): Promise<string[]> {
    const prefix = keys.versionsPrefix(appId);
    const kvs = await this.deadline(`range ${prefix}`, () => this.store.range(prefix));
    return kvs.map((kv) => kv.key.slice(prefix.length)).sort().reverse();
  }
  async version(appId: string, version: string): Promise<AppDefinition | undefined> {
    const kv = await this.deadline('get version', () => this.store.get(keys.version(appId, version)));
    return kv ? (JSON.parse(kv.value) as AppDefinition) : undefined;
  }

  deleteVersion(appId: string, version: string): Promise<void> {
    return this.del(keys.version(appId, version));
  }

  saveRootVersion(r: RootVersion): Promise<void> {
    return this.put(keys.rootVersion(r.version), r);
  }
  deleteRootVersion(version: string): Promise<void> {
    return this.del(keys.rootVersion(version));
  }

  saveInstance(inst: InstanceRecord): Promise<void> {
    return this.put(keys.instance(inst.appId, inst.instanceId), inst);
  }
  deleteInstance(appId: string, instanceId: string): Promise<void> {
    return this.del(keys.instance(appId, instanceId));
  }

  saveFailure(f: TaskFailure): Promise<void> {
    return this.put(keys.failure(f.appId), f);
  }

  saveDeployment(d: DeploymentRecord): Promise<void> {
    return this.put(keys.deployment(d.id), d);
  }
  deleteDeployment(id: string): Promise<void> {
    return this.del(keys.deployment(id));
  }

  saveGroup(g: GroupMeta): Promise<void> {
    return this.put(keys.group(g.id), g);
  }
  deleteGroup(id: string): Promise<void> {
    return this.del(keys.group(id));
  }
}

export { dec };
