const { main } = await import('/tmp/cb/main.js');
process.exitCode = await main(process.argv.slice(2));
