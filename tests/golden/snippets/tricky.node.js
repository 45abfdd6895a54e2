// The client, made once (node-bandwidth):
//   var Bandwidth = require("node-bandwidth");
//   var client = new Bandwidth({userId: "u-xa2n3oxk6it4efbglisna6a", apiToken: process.env.CATAPULT_API_TOKEN, apiSecret: process.env.CATAPULT_API_SECRET, baseUrl: "http://127.0.0.1:8900"});
var options = {
    "maxDigits" : "1",
    "prompt"    : {
        "sentence" : "Press \"1\" for $5\nthen #"
    }
};
client.Call.createGather("c-abc", options).then(function(res) {});
