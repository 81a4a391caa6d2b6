// Fault injection for the fault suite: AFSBOT_FAULT=<point> makes the process kill itself with
// SIGKILL at that named point, as a power cut would, so that a test can check what the next start
// finds and repairs; AFSBOT_FAULT=<point>:stop makes it stop itself (SIGSTOP) there, holding whatever
// it holds, so that a test has a real second afsbot process in a known state. Unset (always, outside
// tests), it does nothing.

export function faultPoint(name: string): void {
  const fault = process.env.AFSBOT_FAULT;
  if (fault === name) process.kill(process.pid, 'SIGKILL');
  else if (fault === `${name}:stop`) process.kill(process.pid, 'SIGSTOP');
}
