// The hello-world client: asks the server for a greeting every 2 seconds and logs the answer.
// The server's address came through the ConnectsTo relationship, as $SERVER_ADDRESS.
import { get } from 'node:http';

const address = process.env.SERVER_ADDRESS;
console.log(`client: the server is at ${address}`);

function ask() {
  get(`http://${address}/`, (response) => {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      body += chunk;
    });
    response.on('end', () => console.log(`client: got from the server: ${body.trim()}`));
  }).on('error', (error) => console.log(`client: cannot reach the server: ${error.message}`));
}

ask();
setInterval(ask, 2000);
process.on('SIGTERM', () => process.exit(0));
