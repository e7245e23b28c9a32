// Draws each div.vega from the JSON spec its data-spec attribute names.
document.querySelectorAll('div.vega').forEach(function(element){
  var spec = JSON.parse(document.getElementById(element.dataset.spec).textContent);
  vegaEmbed(element, spec, {renderer: 'svg', actions: false}).catch(function(error){
    element.textContent = 'This plot could not be drawn: ' + error;
    console.error(error);
  });
});
