const { main } = await import('./dist/compiler/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
