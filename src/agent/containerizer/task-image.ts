// Which container image a task asks for, read from its ContainerInfo. Pure.
//
// type MESOS + mesos.image {type: DOCKER, docker: {name}}: Mesos's unified containerizer with a Docker image.
// type DOCKER + docker.image: meant for Docker's engine, which agents here do not have; the image runs the
// same way (what Marathon's container.docker.image becomes), with docker.force_pull_image as cached=false.
// APPC images and OCI layouts by path are not supported.
import { z } from 'zod';
import type { TaskInfo } from '../../protocol/mesos.ts';

export interface TaskImage {
  name: string;
  /** false: pull again even when the name is cached (Image.cached / force_pull_image). */
  cached: boolean;
}

const MesosImage = z.looseObject({
  type: z.string().optional(),
  docker: z.looseObject({ name: z.string().optional() }).optional(),
  appc: z.looseObject({}).optional(),
  cached: z.boolean().optional(),
});
const Container = z.looseObject({
  type: z.string().optional(),
  mesos: z.looseObject({ image: MesosImage.optional() }).optional(),
  docker: z.looseObject({ image: z.string().optional(), force_pull_image: z.boolean().optional() }).optional(),
});

/** The task's image; undefined when it runs on the host; { error } when its ContainerInfo asks for something unsupported. */
export function taskImage(task: TaskInfo): TaskImage | { error: string } | undefined {
  if (task.container === undefined) return undefined;
  const parsed = Container.safeParse(task.container);
  if (!parsed.success) return { error: `container: ${parsed.error.issues[0]?.message ?? 'invalid ContainerInfo'}` };
  const c = parsed.data;
  const type = c.type ?? 'MESOS';
  if (type === 'DOCKER') {
    const name = c.docker?.image;
    if (!name) return { error: 'container.docker.image is required for a DOCKER container' };
    return { name, cached: !(c.docker?.force_pull_image ?? false) };
  }
  if (type !== 'MESOS') return { error: `container.type ${type} is not supported (use MESOS, or DOCKER with docker.image)` };
  const image = c.mesos?.image;
  if (!image) return undefined;
  const itype = image.type ?? 'DOCKER';
  if (itype === 'APPC' || image.appc) return { error: 'APPC images are not supported by this agent; use a Docker image (mesos.image.type DOCKER)' };
  if (itype !== 'DOCKER') return { error: `container.mesos.image.type ${itype} is not supported (use DOCKER)` };
  const name = image.docker?.name;
  if (!name) return { error: 'container.mesos.image.docker.name is required for a DOCKER image' };
  return { name, cached: image.cached ?? true };
}
