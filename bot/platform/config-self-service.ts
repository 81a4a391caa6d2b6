// The configuration of restores that users ask for themselves (`!request-restore`).
import { z } from 'zod';
import { bool, int, list, optText, text } from './config-kit.ts';

export const selfService = z.strictObject({
  enabled: bool(
    true,
    'let logged-in users ask for their files back (!request-restore), each request approved by an admin',
    {
      env: 'AFSBOT_SELF_SERVICE',
    },
  ),
  ownVolumes: list(
    z.string().includes('{user}'),
    ['user.{user}', 'mail.{user}', 'db.{user}'],
    "a user's own volumes, {user} the AFS user: anything in them may be asked for",
  ),
  users: list(
    z.string().regex(/^(irc|slack|console):[^=\s]+=[^=\s]+$/),
    [],
    'the AFS user of a chat identity, as backend:id=afsuser; an identity not listed is the AFS user of its own id (Slack IDs must be listed)',
  ),
  keepDays: int(1, 365, 7, 'days a restored copy stays before it is unmounted and removed'),
  maxOpen: int(
    1,
    100,
    3,
    "a user's open requests (waiting for approval, or restored and not yet expired) at most",
  ),
  volumePrefix: text('rq.', "the staging volumes' names: this, then the request's number"),
  mountDir: optText(
    'where each staging volume is mounted for its user (fs mkmount), e.g. /afs/.example.org/restores; unset: not mounted',
    {
      env: 'AFSBOT_SELF_SERVICE_MOUNT_DIR',
    },
  ),
  parentVolume: optText(
    'the volume mountDir is in: released (vos release) after each mount point is made or removed',
    { env: 'AFSBOT_SELF_SERVICE_PARENT_VOLUME' },
  ),
});
