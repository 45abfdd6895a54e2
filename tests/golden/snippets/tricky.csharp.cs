// The client, made once (Bandwidth.Net):
//   using System; using Bandwidth.Net; using Bandwidth.Net.Api;
//   var client = new Client("u-xa2n3oxk6it4efbglisna6a", Environment.GetEnvironmentVariable("CATAPULT_API_TOKEN"), Environment.GetEnvironmentVariable("CATAPULT_API_SECRET"), "http://127.0.0.1:8900");
var gather = await client.Call.CreateGatherAsync("c-abc", new CreateGatherData {
    MaxDigits = "1",
    Prompt = new GatherPrompt {
        Sentence = "Press \"1\" for $5\nthen #"
    }
});
