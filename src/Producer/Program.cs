using KbSync.Producer.Cli;

return await KbSyncCli.InvokeAsync(args);
