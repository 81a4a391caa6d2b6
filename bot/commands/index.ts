// Every chat command, one file each. Adding a command means adding its file and one line here.
import approvals from './approvals.ts';
import approve from './approve.ts';
import audit from './audit.ts';
import backup from './backup.ts';
import cancel from './cancel.ts';
import deny from './deny.ts';
import discard from './discard.ts';
import dump from './dump.ts';
import help from './help.ts';
import job from './job.ts';
import jobs from './jobs.ts';
import keys from './keys.ts';
import mount from './mount.ts';
import nightly from './nightly.ts';
import ping from './ping.ts';
import promote from './promote.ts';
import requestRestore from './request-restore.ts';
import restore from './restore.ts';
import restoreFile from './restore-file.ts';
import status from './status.ts';
import unmount from './unmount.ts';
import whoami from './whoami.ts';

export const commands = [
  help,
  whoami,
  ping,
  status,
  audit,
  backup,
  dump,
  restore,
  restoreFile,
  requestRestore,
  mount,
  unmount,
  discard,
  jobs,
  job,
  cancel,
  keys,
  promote,
  approve,
  deny,
  approvals,
  nightly,
];
