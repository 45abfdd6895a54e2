// The client, made once (node-bandwidth):
//   var Bandwidth = require("node-bandwidth");
//   var client = new Bandwidth({userId: process.env.CATAPULT_USER_ID, apiToken: process.env.CATAPULT_API_TOKEN, apiSecret: process.env.CATAPULT_API_SECRET});
var options = {
    "maxDigits"         : "5",
    "terminatingDigits" : "*",
    "interDigitTimeout" : "7",
    "prompt"            : {
        "sentence" : "Please enter your 5 digit code"
    }
};
client.Call.createGather("{callId}", options).then(function(res) {});
