// Fault injection for the fault suite: AFSBOT_FAULT=<point> makes the process kill itself with
// SIGKILL at that named point, as a power cut would, so that a test can check what the next start
// finds and repairs. Unset (always, outside tests), it does nothing.

export function faultPoint(name: string): void {
  if (process.env.AFSBOT_FAULT === name) process.kill(process.pid, 'SIGKILL');
}
