// The client, made once (Bandwidth.Net):
//   using System; using Bandwidth.Net; using Bandwidth.Net.Api;
//   var client = new Client(Environment.GetEnvironmentVariable("CATAPULT_USER_ID"), Environment.GetEnvironmentVariable("CATAPULT_API_TOKEN"), Environment.GetEnvironmentVariable("CATAPULT_API_SECRET"));
var gather = await client.Call.CreateGatherAsync("c-isw3qup6gvr3ywcsentygnq", new CreateGatherData {
    MaxDigits = "4",
    TerminatingDigits = "#*",
    InterDigitTimeout = "2.5",
    Tag = "order-42",
    // SuppressDtmf = false: CreateGatherData has no SuppressDtmf property; send suppressDtmf in a raw JSON request if you need it
    Prompt = new GatherPrompt {
        Sentence = "Entrez votre code, puis dièse.",
        Gender = Gender.Male,
        Locale = "fr_FR",
        Voice = "bernard",
        FileUrl = "https://example.com/menu.mp3",
        LoopEnabled = true,
        Bargeable = false
    }
});
