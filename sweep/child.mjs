// A local sweep worker process (sweep/local.ts forks it): loads the TypeScript sources through
// tsx (a forked process does not inherit the parent's loader), then serves jobs over IPC.
import { register } from 'tsx/esm/api';

register();
const { childMain } = await import('./local.ts');
childMain();
