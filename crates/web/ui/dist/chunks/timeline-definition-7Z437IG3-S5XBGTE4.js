throw new Error("timeline-definition-7Z437IG3.mjs is not part of pathproof's page");
