// The client, made once (node-bandwidth):
//   var Bandwidth = require("node-bandwidth");
//   var client = new Bandwidth({userId: process.env.CATAPULT_USER_ID, apiToken: process.env.CATAPULT_API_TOKEN, apiSecret: process.env.CATAPULT_API_SECRET});
var options = {
    "maxDigits"         : "4",
    "terminatingDigits" : "#*",
    "interDigitTimeout" : "2.5",
    "tag"               : "order-42",
    "suppressDtmf"      : false,
    "prompt"            : {
        "sentence"    : "Entrez votre code, puis dièse.",
        "gender"      : "male",
        "locale"      : "fr_FR",
        "voice"       : "bernard",
        "fileUrl"     : "https://example.com/menu.mp3",
        "loopEnabled" : true,
        "bargeable"   : false
    }
};
client.Call.createGather("c-isw3qup6gvr3ywcsentygnq", options).then(function(res) {});
