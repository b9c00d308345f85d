/** `npm run migrate`: applies pending migrations and exits (npm start does this by itself). */
import { loadConfig } from "@seatdrop/config";
import { connectDb, probeDatabase, runMigrations } from "@seatdrop/db";

const config = loadConfig();
const problem = await probeDatabase(config.DATABASE_URL);
if (problem) {
  console.error(problem);
  process.exit(1);
}
const db = connectDb(config.DATABASE_URL, { max: 2 });
await runMigrations(db);
await db.close();
console.log("migrations applied");
