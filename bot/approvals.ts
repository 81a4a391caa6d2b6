// Approvals: a destructive command does not act when asked. It posts a plan and an approval request;
// a different admin approves it (as many as the config wants) and only then does it run, and only if
// the facts the plan rested on are still true. Requests live in the store, so they survive a restart,
// and expire.
import type { Backend, Conversation } from './chat.ts';
import type { Store } from './store.ts';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'stale';

export interface Approver {
  backend: Backend;
  id: string;
  at: string;
}

export interface ApprovalRow {
  id: number;
  command: string;
  args: string; // JSON string[]: the argument tokens, re-validated when it runs
  backend: Backend;
  requester: string;
  conversation: string; // JSON Conversation
  plan: string;
  facts: string; // JSON: what the plan rests on
  required: number;
  approvers: string; // JSON Approver[]
  status: ApprovalStatus;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
  break_glass: number;
  job_id: number | null;
}

export class Approvals {
  constructor(
    private readonly store: Store,
    private readonly now: () => Date,
  ) {}

  create(r: {
    command: string;
    args: string[];
    backend: Backend;
    requester: string;
    conversation: Conversation;
    plan: string;
    facts: unknown;
    required: number;
    ttlMs: number;
    breakGlass?: string;
  }): ApprovalRow {
    const created = this.now();
    const info = this.store.db
      .prepare(
        `INSERT INTO approvals (command, args, backend, requester, conversation, plan, facts, required, approvers,
                                status, created_at, expires_at, break_glass, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?)`,
      )
      .run(
        r.command,
        JSON.stringify(r.args),
        r.backend,
        r.requester,
        JSON.stringify(r.conversation),
        r.plan,
        JSON.stringify(r.facts),
        r.required,
        r.breakGlass ? 'approved' : 'pending',
        created.toISOString(),
        new Date(created.getTime() + r.ttlMs).toISOString(),
        r.breakGlass ? 1 : 0,
        r.breakGlass ?? null,
      );
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): ApprovalRow | undefined {
    const row = this.store.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as
      | ApprovalRow
      | undefined;
    if (row?.status === 'pending' && row.expires_at <= this.now().toISOString()) {
      this.set(id, { status: 'expired', decided_at: row.expires_at });
      return { ...row, status: 'expired', decided_at: row.expires_at };
    }
    return row;
  }

  /** Open requests, expiring the ones whose time is up. */
  open(): ApprovalRow[] {
    const rows = this.store.db
      .prepare(`SELECT id FROM approvals WHERE status = 'pending' ORDER BY id`)
      .all() as { id: number }[];
    return rows.map((r) => this.get(r.id)!).filter((r) => r.status === 'pending');
  }

  set(id: number, fields: Partial<Omit<ApprovalRow, 'id'>>): void {
    this.store.updateRow('approvals', id, fields);
  }

  approvers(row: ApprovalRow): Approver[] {
    return JSON.parse(row.approvers) as Approver[];
  }

  /** Records one approval; returns the approvers so far. */
  addApprover(row: ApprovalRow, who: { backend: Backend; id: string }): Approver[] {
    const list = [...this.approvers(row), { ...who, at: this.now().toISOString() }];
    this.set(row.id, { approvers: JSON.stringify(list) });
    return list;
  }
}
