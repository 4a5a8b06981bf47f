// BullMQ sandboxed processor (sweep/queue.ts): each queue job runs in this separate process.
// Registers tsx (a forked process does not inherit the parent's loader), then hands jobs over.
import { register } from 'tsx/esm/api';

register();
const { processQueued } = await import('./queue.ts');
// The worker process died (kill -9, host lost): stop too, the job goes back to the queue. It may
// have died while this process was still loading, before the handler existed: check once as well.
process.on('disconnect', () => process.exit(1));
if (!process.connected) process.exit(1);
export default processQueued;
