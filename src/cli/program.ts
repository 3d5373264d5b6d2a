// The `corral` command tree (commander). Each command group lives in its own
// file; this one wires them together and sets the shared behaviour: usage
// errors exit 2, help exits 0, and program options are positional so that a
// subcommand's options (e.g. `agent list --master`) are its own.
import { Command } from 'commander';
import { CORRAL_VERSION } from '../master/version.ts';
import { registerAgent } from './agent.ts';
import { registerAlerts } from './alerts.ts';
import { registerApp } from './app.ts';
import { registerCluster } from './cluster.ts';
import { registerDeployment } from './deployment.ts';
import { registerDev } from './dev.ts';
import { registerMaster } from './master.ts';
import { registerOrchestrator } from './orchestrator.ts';
import { registerTask } from './task.ts';
import { registerTop } from './top.ts';
import { registerWhy } from './why.ts';

export function buildProgram(): Command {
  const program = new Command('corral');
  program
    .description('Corral: a Mesos-compatible datacenter OS — master, agents, DRF allocator and a CLI')
    .version(CORRAL_VERSION, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      'after',
      `
Environment:
  CORRAL_MASTER        master(s) for client commands: URL, URL,URL or etcd://H:P[,H:P] (default http://127.0.0.1:5050)
  CORRAL_ORCHESTRATOR  orchestrator URL for app/deployment commands (default http://127.0.0.1:8080)
  CORRAL_LOG_LEVEL     debug | info | warn | error for master/agent logs (stderr)
  NO_COLOR             disable bold table headers on terminals

Quick start:
  corral dev                        # terminal 1: master + agent in the foreground
  corral task run -- echo hello     # terminal 2
  corral task list --all
  corral task log <task id>`,
    );
  registerDev(program);
  registerMaster(program);
  registerAgent(program);
  registerTask(program);
  registerCluster(program);
  registerOrchestrator(program);
  registerApp(program);
  registerDeployment(program);
  registerAlerts(program);
  registerWhy(program);
  registerTop(program);
  return program;
}
