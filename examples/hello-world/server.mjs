// The hello-world server: answers every HTTP request on 127.0.0.1:$PORT, the port Khutulun
// reserved for it, with $GREETING.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const greeting = process.env.GREETING ?? 'Hello';
let answers = 0;

createServer((_request, response) => {
  answers += 1;
  response.end(
    `${greeting}, world! (answer #${answers} from the server, pid ${process.pid}, port ${port})\n`,
  );
}).listen(port, '127.0.0.1', () => console.log(`server: listening on 127.0.0.1:${port}`));

process.on('SIGTERM', () => {
  console.log('server: stopping');
  process.exit(0);
});
