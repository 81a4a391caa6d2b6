// Writes .env.example from the config schema (npm run env-example); a unit test keeps them equal.
import { writeFileSync } from 'node:fs';
import { envExample } from '../../bot/platform/config.ts';

writeFileSync(new URL('../../.env.example', import.meta.url), envExample());
