using KbSync.Producer.Cli;

return await KbSyncCli.CreateRoot().Parse(args).InvokeAsync();
