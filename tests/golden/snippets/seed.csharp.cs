// The client, made once (Bandwidth.Net):
//   using System; using Bandwidth.Net; using Bandwidth.Net.Api;
//   var client = new Client(Environment.GetEnvironmentVariable("CATAPULT_USER_ID"), Environment.GetEnvironmentVariable("CATAPULT_API_TOKEN"), Environment.GetEnvironmentVariable("CATAPULT_API_SECRET"));
var gather = await client.Call.CreateGatherAsync("{callId}", new CreateGatherData {
    MaxDigits = "5",
    TerminatingDigits = "*",
    InterDigitTimeout = "7",
    Prompt = new GatherPrompt {
        Sentence = "Please enter your 5 digit code"
    }
});
