/**
 * A mistake by the person typing the command: shown to them verbatim. The message says what was wrong
 * and how to do it right; the dispatcher adds the command's usage line.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** A refusal: the command was understood but is not allowed (shown as "refused: ...", audited as refused). */
export class Refusal extends UserError {}

/** The command was right but cannot run now (a run already going): shown without the usage line. */
export class NotNow extends UserError {}
