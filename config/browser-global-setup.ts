// Global setup of the browser test project: starts the fault-injecting ingest stand-in on
// 127.0.0.1 and hands its URL to the tests (`inject('faultServer')`).
import type { TestProject } from 'vitest/node';
import { startFaultServer } from './test-servers/fault-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    faultServer: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startFaultServer();
  project.provide('faultServer', server.url);
  return () => server.close();
}
