// Approvals and promote on the real cell: a second admin must approve, the approval is bound to the
// facts of the plan, requests expire and survive a restart, and an approved promote loses nothing.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const VOL = 'user.p4';
let now = new Date();
let h: MemoryHarness;
const env = {
  AFSBOT_AFS_SERVER: cell.server,
  AFSBOT_ADMINS: 'root console:root console:rt2; alice console:alice; carol console:carol',
};
let dir: string;

const requestId = (text: string) => Number(/Request (\d+): nothing happens until/.exec(text)![1]);

beforeAll(async () => {
  for (const v of ['user.p4.restored', 'p4.old']) await removeIfThere(cell, v);
  await freshVolume(cell, VOL);
  writeVolumeFile(cell, VOL, 'notes.txt', 'good\n');
  h = await startMemoryBot({ cell, clock: () => now, env });
  dir = h.dir;
  expect((await h.chat.job(`!dump ${VOL} full`)).result).toMatch(/done/);
  writeVolumeFile(cell, VOL, 'notes.txt', 'damaged\n');
  expect((await h.chat.job(`!restore ${VOL}`)).result).toMatch(/restored into user\.p4\.restored/);
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('approvals', () => {
  it('posts the plan with both volumes and the steps, and does nothing yet', async () => {
    const text = await h.chat.type(`!promote ${VOL}`);
    expect(text).toMatch(/^Plan: promote user\.p4\.restored \(restored by job \d+\) to user\.p4\./);
    expect(text).toMatch(/^now live user\.p4: id \d+, \d+ files, .*, last update /m);
    expect(text).toMatch(/^restored user\.p4\.restored: id \d+, /m);
    expect(text).toMatch(
      /^1\. safety dump of the live volume \(full dump of user\.p4, kept until an admin expires it\)$/m,
    );
    expect(text).toMatch(/^5\. verify$/m);
    expect(text).toMatch(
      /Request \d+: nothing happens until an admin other than root approves with !approve \d+/,
    );
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged\n');
  });

  it('refuses self-approval and approval by a non-admin, and audits both', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    expect(await h.chat.type(`!approve ${id}`, 'root')).toBe(
      `refused: you (root) asked for request ${id} yourself, as console:root; an admin other than you must approve it`,
    );
    // the same person under another identity (here a second unix user; IRC and Slack alike)
    expect(await h.chat.type(`!approve ${id}`, 'rt2')).toBe(
      `refused: you (root) asked for request ${id} yourself, as console:root; an admin other than you must approve it`,
    );
    expect(await h.chat.type(`!approve ${id}`, 'mallory')).toBe(
      'refused: mallory is not an afsbot admin on console',
    );
    const audit = h.bot.services.audit.recent(3);
    expect(audit.map((a) => [a.identity, a.person, a.outcome])).toEqual([
      ['root', 'root', 'refused'],
      ['rt2', 'root', 'refused'],
      ['mallory', null, 'refused'],
    ]);
    expect(h.bot.services.approvals.get(id)!.approvers).toBe('[]');
    expect(await h.chat.type('!approvals')).toMatch(
      new RegExp(`request ${id}: promote user\\.p4 by root on console, 0 of 1 approvals`),
    );
  });

  it('refuses an expired request', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    now = new Date(now.getTime() + 31 * 60_000);
    try {
      expect(await h.chat.type(`!approve ${id}`, 'alice')).toBe(
        `refused: request ${id} is expired; ask for a new one`,
      );
    } finally {
      now = new Date();
    }
    expect(h.bot.services.audit.recent(1)[0]).toMatchObject({ identity: 'alice', outcome: 'refused' });
  });

  it('refuses a request whose volume changed after the plan', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    await new Promise((r) => setTimeout(r, 1100));
    writeVolumeFile(cell, VOL, 'notes.txt', 'damaged, and written to again\n');
    const answer = await h.chat.type(`!approve ${id}`, 'alice');
    expect(answer).toMatch(
      new RegExp(`^refused: what request ${id} was planned on has changed \\(live\\.updated: \\d+ -> \\d+`),
    );
    expect(answer).toMatch(/ask again with !promote user\.p4 for a new plan$/);
    expect(h.bot.services.audit.recent(1)[0]).toMatchObject({ outcome: 'refused' });
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged, and written to again\n');
  });

  it('keeps a request across a restart, and it can be approved afterwards', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    await h.stop();
    h = await startMemoryBot({ cell, clock: () => now, env, dir });
    expect(await h.chat.type('!approvals', 'alice')).toMatch(
      new RegExp(`^request ${id}: promote user\\.p4 by root`, 'm'),
    );
    const answer = await h.chat.type(`!approve ${id}`, 'alice');
    expect(answer).toMatch(
      new RegExp(
        `^request ${id} approved by alice; running it\\njob \\d+ started: promotion \\d+, user\\.p4\\.restored to user\\.p4`,
      ),
    );
    const job = Number(/job (\d+) started/.exec(answer)![1]);
    const result = await h.chat.waitFor(new RegExp(`^job ${job} \\(.*\\) (done|failed)`), 120_000);
    expect(result).toMatch(/done: user\.p4\.restored is now user\.p4\./);
    expect(result).toMatch(
      /^1\. safety dump of the live volume: safety dump .*user\.p4\.full\.\d+\.dump\.zst/m,
    );
    expect(result).toMatch(/^2\. vos remove of the live volume: removed user\.p4/m);
    expect(result).toMatch(/^3\. vos rename of the restored volume: renamed user\.p4\.restored to user\.p4/m);
    expect(result).toMatch(/^5\. verify: user\.p4 is id \d+/m);
  });

  it('after the promote: the restored content is live, the copy is gone, the safety dump holds the old content', async () => {
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('good\n');
    expect((await vos.examine('user.p4.restored')).ok).toBe(false);
    const list = await h.chat.type(`!backup list ${h.bot.services.catalog.dates()[0]!.date}`);
    expect(list).toMatch(/^user\.p4 {2}full \(safety dump before a promote\)/m);
    const r = await h.chat.job(`!restore ${VOL} as p4.old`);
    expect(r.result).toMatch(/restored into p4\.old/);
    expect(readVolumeFile(cell, 'p4.old', 'notes.txt').toString()).toBe('damaged, and written to again\n');
  });
});

describe('approval rules', () => {
  it('accepts only a volume the bot restored as the source', async () => {
    expect(await h.chat.type(`!promote ${VOL} from user.bob`)).toMatch(
      /^error: user\.bob is not a volume afsbot restored, so it cannot be promoted/,
    );
  });

  it('refuses an all-digit volume name, which vos would take for an id', async () => {
    const ex = await vos.examine(VOL);
    if (!ex.ok) throw new Error(ex.message);
    const id = ex.fields.id!;
    const open = h.bot.services.approvals.open().length;
    expect(await h.chat.type(`!promote ${id} from p4.old`)).toMatch(
      new RegExp(`^error: "${id}" is all digits, which vos reads as a volume id, not a name`),
    );
    expect(await h.chat.type(`!promote user.p4 from ${id}`)).toMatch(/is all digits/);
    expect(await h.chat.type(`!nightly maintenance test-restore ${id}`)).toMatch(/is all digits/);
    expect(await h.chat.type('!nightly maintenance test-restore ../etc')).toMatch(/is not a volume name/);
    expect(h.bot.services.approvals.open()).toHaveLength(open);
  });

  it('needs as many different admins as configured', async () => {
    h.bot.services.config.approvals.required = 2;
    try {
      const id = requestId(await h.chat.type(`!promote ${VOL} from p4.old`));
      expect(await h.chat.type(`!approve ${id}`, 'alice')).toBe(
        `approval 1 of 2 recorded for request ${id}; it needs another admin`,
      );
      expect(await h.chat.type(`!approve ${id}`, 'alice')).toBe(
        `refused: you (alice) already approved request ${id}; it needs 2 different admins`,
      );
      // the requester's second identity is not a second admin either
      expect(await h.chat.type(`!approve ${id}`, 'rt2')).toMatch(
        new RegExp(`^refused: you \\(root\\) asked for request ${id} yourself`),
      );
      expect(await h.chat.type(`!deny ${id} not today`, 'alice')).toBe(
        `request ${id} (promote user.p4 from p4.old) denied by alice: not today`,
      );
      expect(await h.chat.type(`!approve ${id}`, 'root')).toBe(
        `refused: request ${id} is denied; ask for a new one`,
      );
    } finally {
      h.bot.services.config.approvals.required = 1;
    }
  });
});

describe('break-glass', () => {
  it('is refused where the config does not allow it', async () => {
    expect(await h.chat.type(`!promote ${VOL} from p4.old --break-glass "alone tonight"`)).toBe(
      'refused: break-glass is not allowed here (approvals.breakGlass is off); ask another admin to !approve a normal request',
    );
  });

  it('is refused without a reason, even where allowed', async () => {
    h.bot.services.config.approvals.breakGlass = true;
    try {
      expect(await h.chat.type(`!promote ${VOL} from p4.old --break-glass`)).toMatch(
        /^refused: break-glass needs a reason: !promote user\.p4 from p4\.old --break-glass "why/,
      );
      expect(h.bot.services.audit.recent(1)[0]).toMatchObject({ outcome: 'refused' });
    } finally {
      h.bot.services.config.approvals.breakGlass = false;
    }
  });

  it('where allowed, runs at once, is announced everywhere and marked in the audit table', async () => {
    h.bot.services.config.approvals.breakGlass = true;
    try {
      const since = h.chat.said.length;
      const answer = await h.chat.type(
        `!promote ${VOL} from p4.old --break-glass "disk died, alone tonight"`,
      );
      expect(answer).toMatch(
        /^BREAK-GLASS: root \(console:root\) runs "!promote user\.p4 from p4\.old" with no second admin \(request \d+\)\. Reason: disk died, alone tonight/,
      );
      const job = Number(/job (\d+) started/.exec(answer)![1]);
      expect(await h.chat.waitFor(new RegExp(`^job ${job} \\(.*\\) done`), 120_000, since)).toMatch(
        /p4\.old is now user\.p4/,
      );
      expect(
        h.bot.services.audit
          .recent(5)
          .filter((a) => a.text.includes('--break-glass'))
          .at(-1),
      ).toMatchObject({
        outcome: 'ok',
        detail: expect.stringMatching(/^BREAK-GLASS \(request \d+\): disk died, alone tonight$/),
      });
      expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged, and written to again\n');
    } finally {
      h.bot.services.config.approvals.breakGlass = false;
    }
  });
});
