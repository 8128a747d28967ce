throw new Error("kanban-definition-BH5XI6FM.mjs is not part of pathproof's page");
