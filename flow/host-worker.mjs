// Worker-thread entry: registers the tsx loader in this thread (workers do not inherit the
// main thread's loader), then runs the TypeScript worker body.
import { register } from 'tsx/esm/api';

register();
await import('./host-worker.ts');
