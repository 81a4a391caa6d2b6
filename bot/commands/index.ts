// Every chat command, one file each. Adding a command means adding its file and one line here.
import audit from './audit.ts';
import help from './help.ts';
import ping from './ping.ts';
import status from './status.ts';
import whoami from './whoami.ts';

export const commands = [help, whoami, ping, status, audit];
