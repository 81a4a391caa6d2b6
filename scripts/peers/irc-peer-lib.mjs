// What the IRC peers' helpers (irc-helper.mjs for InspIRCd, ngircd-helper.mjs for ngIRCd) share.

/**
 * `register HOST PORT`, with "account:password" lines on stdin: ensures every account at once with
 * `ensureAccount(host, port, account, password)` (which resolves to { account, how, ms }), prints
 * "<account> <how>" per account on stdout, and returns the exit status (1 if any failed).
 * `check` names how an account was proven to work, for the log.
 */
export async function registerFromStdin(host, port, ensureAccount, check, log) {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const accounts = input
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf(':');
      return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)];
    });
  const results = await Promise.allSettled(accounts.map(([a, p]) => ensureAccount(host, port, a, p)));
  let failed = 0;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      process.stdout.write(`${r.value.account} ${r.value.how}\n`);
      log(`account ${r.value.account}: ${r.value.how}, ${check} ok (${r.value.ms} ms)`);
    } else {
      failed++;
      log(`account ${accounts[i][0]}: FAILED: ${r.reason.message}`);
    }
  });
  return failed ? 1 : 0;
}
