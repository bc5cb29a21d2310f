// The hello-world server: answers every HTTP request on $KHUTULUN_ADDRESS:$PORT (the address
// of the host it runs on, 127.0.0.1 on a single host, and the port Khutulun reserved for it),
// with $GREETING.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const address = process.env.KHUTULUN_ADDRESS ?? '127.0.0.1';
const greeting = process.env.GREETING ?? 'Hello';
let answers = 0;

createServer((_request, response) => {
  answers += 1;
  response.end(
    `${greeting}, world! (answer #${answers} from the server, pid ${process.pid}, port ${port})\n`,
  );
}).listen(port, address, () => console.log(`server: listening on ${address}:${port}`));

process.on('SIGTERM', () => {
  console.log('server: stopping');
  process.exit(0);
});
