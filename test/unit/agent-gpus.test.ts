import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findOnPath, parseNvidiaSmi } from '../../src/agent/gpus.ts';

// Captured from `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader`.
const H100_X8 = `0, NVIDIA H100 80GB HBM3, 81559 MiB
1, NVIDIA H100 80GB HBM3, 81559 MiB
2, NVIDIA H100 80GB HBM3, 81559 MiB
3, NVIDIA H100 80GB HBM3, 81559 MiB
4, NVIDIA H100 80GB HBM3, 81559 MiB
5, NVIDIA H100 80GB HBM3, 81559 MiB
6, NVIDIA H100 80GB HBM3, 81559 MiB
7, NVIDIA H100 80GB HBM3, 81559 MiB
`;
const MIXED = '1, Tesla T4, 15360 MiB\r\n0, NVIDIA GeForce RTX 3090, 24576 MiB\r\n';
const NO_DEVICES = 'No devices were found\n';
const NO_DRIVER =
  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n";

describe('parseNvidiaSmi', () => {
  it('parses one GPU per line', () => {
    const gpus = parseNvidiaSmi(H100_X8);
    assert.equal(gpus.length, 8);
    assert.deepEqual(gpus[0], { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 });
    assert.deepEqual(gpus.map((g) => g.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('sorts by index and accepts CRLF', () => {
    assert.deepEqual(parseNvidiaSmi(MIXED), [
      { index: 0, name: 'NVIDIA GeForce RTX 3090', memoryMiB: 24576 },
      { index: 1, name: 'Tesla T4', memoryMiB: 15360 },
    ]);
  });

  it('keeps commas inside names and tolerates [N/A] memory', () => {
    assert.deepEqual(parseNvidiaSmi('0, Odd, Name GPU, [N/A]\n'), [{ index: 0, name: 'Odd, Name GPU' }]);
  });

  it('returns no GPUs for messages, blank output and garbage', () => {
    assert.deepEqual(parseNvidiaSmi(NO_DEVICES), []);
    assert.deepEqual(parseNvidiaSmi(NO_DRIVER), []);
    assert.deepEqual(parseNvidiaSmi(''), []);
    assert.deepEqual(parseNvidiaSmi('\n\n  \n'), []);
    assert.deepEqual(parseNvidiaSmi('x, y, z\n0 H100 80GB\n'), []);
  });

  it('ignores duplicate indexes', () => {
    assert.equal(parseNvidiaSmi('0, A, 1 MiB\n0, A, 1 MiB\n').length, 1);
  });
});

describe('findOnPath', () => {
  it('finds executables without spawning and misses absent ones', () => {
    assert.equal(findOnPath('sh', '/nonexistent:/bin'), '/bin/sh');
    assert.equal(findOnPath('no-such-tool-here', '/bin:/usr/bin'), undefined);
    assert.equal(findOnPath('nvidia-smi', ''), undefined);
    assert.equal(findOnPath('/bin/sh'), '/bin/sh');
    assert.equal(findOnPath('/etc/passwd'), undefined, 'not executable');
  });
});
